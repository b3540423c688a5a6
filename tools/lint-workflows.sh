#!/usr/bin/env bash
# Lint the GitHub Actions workflows and the repository's own actions (.github/actions) with the
# pinned tools from requirements-dev.txt:
#   actionlint - workflow syntax, expressions, contexts, inputs of the local actions (and shellcheck
#                on run: blocks if installed)
#   zizmor     - security audits of workflows and actions at the auditor persona (every finding,
#                including those the regular persona hides as noisy)
# Exits non-zero on any finding from either tool. Run from anywhere: bash tools/lint-workflows.sh
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
bin=${VENV_BIN:-.venv/bin}

for tool in actionlint zizmor; do
  if [[ ! -x $bin/$tool ]]; then
    echo "lint-workflows: $bin/$tool not found; run: python -m venv .venv && .venv/bin/pip install -r requirements-dev.txt" >&2
    exit 2
  fi
done

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if (( ${#workflows[@]} == 0 )); then
  echo "lint-workflows: no workflow files under .github/workflows" >&2
  exit 2
fi

status=0

echo "== actionlint ${workflows[*]}"
"$bin/actionlint" -no-color "${workflows[@]}" || status=1

# --offline: no GitHub API calls, so the online-only audits (impostor-commit,
# known-vulnerable-actions, ref-version-mismatch, ...) are skipped and this works without network.
echo "== zizmor --offline --persona=auditor .github"
"$bin/zizmor" --offline --persona=auditor --no-progress --color=never .github || status=1

if (( status == 0 )); then
  echo "lint-workflows: OK (actionlint and zizmor found nothing)"
else
  echo "lint-workflows: FAILED" >&2
fi
exit "$status"
