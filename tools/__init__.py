"""The maintainer's tools: the benchmark, the site's build and check, the notebooks' runner,
the data builder and the GPU check. A learner needs none of them (scripts/ holds theirs)."""
