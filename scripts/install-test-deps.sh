#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks talk to:
# a real Dovecot (IMAP + POP3) and Chromium for the admin-page and XSS tests.
# Idempotent; called by the test harness when something is missing, and by .ci/run.
set -euo pipefail
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd dovecot-pop3d)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: missing ${need[*]}; run this script as root (apt-get)" >&2
  exit 1
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# Debian's policy-rc.d keeps the system Dovecot from starting; tests run their own.
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
