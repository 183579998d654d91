#!/usr/bin/env bash
# Build the documentation warning-free (examples gallery executed).
# Usage: bash docs/build.sh   (from anywhere; needs the "docs" extra installed)
set -euo pipefail
cd "$(dirname "$0")"
rm -rf _build auto_examples gen_modules sg_execution_times.rst
start=$(date +%s)
python -m sphinx -W --keep-going -b html . _build/html
echo "docs: built in $(( $(date +%s) - start )) s -> docs/_build/html/index.html"
