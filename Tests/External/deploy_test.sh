#!/usr/bin/env bash
# The README's deployment files, used as a user would: deploy/nginx/perigee.conf in front of
# Perigee (real nginx from Debian) and deploy/systemd/perigee.service (systemd-analyze verify).
#
#   Tests/External/deploy_test.sh
#
# Output: Tests/External/out/deploy (server.log, nginx logs, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=deploy
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_need_debs nginx systemd
    perigee_run_python_test deploy deploy_test.py
}

main "$@"
exit $?
