#!/usr/bin/env bash
# The Django shoutbox example (examples/django-shoutbox) beside Perigee, end to end: its Django
# unit tests, then two logged-in users and an anonymous browser in headless Chromium.
#
#   Tests/External/django_example_test.sh
#
# Installs Chromium and chromedriver from Debian if missing, sets up .venv (setup-venvs.sh:
# selenium) and the example's own venv (Django, from its requirements.txt), then runs
# django_example_test.py, which starts Django and Perigee itself: PERIGEE_BIN (default
# .build/debug/perigee) or PERIGEE_CMD with '{port}' and '{config}'.
# Output: Tests/External/out/django-example (server.log, django.log, perigee.yaml, result.txt,
# screenshots).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=django-example
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    mkdir -p "$PERIGEE_EXT_DIR/out/django-example"
    rm -f "$PERIGEE_EXT_DIR/out/django-example"/*.png

    perigee_need_debs chromium chromium-driver
    make -s -C "$PERIGEE_REPO_ROOT/examples/django-shoutbox" venv \
        || perigee_die "creating the example's venv (examples/django-shoutbox/.venv) failed"
    perigee_run_python_test django-example django_example_test.py
}

main "$@"
exit $?
