"""What both implementations share: the run's Config, the data and its shipped MNIST slice,
`close` (the one rule of closeness), checkpoints, file writing, the thread policy, the
system-specific code, and the chapter's figures. No command line here: that is
scripts/cli.py."""
