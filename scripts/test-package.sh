#!/usr/bin/env bash
# Installs the packages scripts/package.sh built, checks them as an operator would, and purges
# them again: the rules parse (`tollgate check`), the unit passes `systemd-analyze verify`, the
# key is 0600 and the tollgate user's, Debian's nginx loads the module through its
# modules-enabled snippet (`nginx -t`), and a purge leaves no user, state or configuration.
# Run by scripts/test.sh (as root, or through sudo). It changes the machine (a system user,
# /etc/tollgate, nginx's modules-enabled), so it runs only in CI (CI=true) or when asked
# (TOLLGATE_TEST_PACKAGE=1), and never over a tollgate that was there before it ran.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CI:-}" != true ] && [ "${TOLLGATE_TEST_PACKAGE:-}" != 1 ]; then
  echo "package test skipped: it installs packages on this machine (CI=true or TOLLGATE_TEST_PACKAGE=1 runs it)" >&2
  exit 0
fi
as=()
[ "$(id -u)" = 0 ] || as=(sudo)
fail() { echo "package test: $*" >&2; exit 1; }
for p in tollgate libnginx-mod-http-tollgate; do
  if dpkg -s "$p" >/dev/null 2>&1; then
    echo "package test skipped: $p is installed on this machine already" >&2
    exit 0
  fi
done
for left in /etc/tollgate /var/lib/tollgate /usr/bin/tollgate; do
  [ ! -e "$left" ] || { echo "package test skipped: $left exists (made by hand?)" >&2; exit 0; }
done
if getent passwd tollgate >/dev/null; then
  echo "package test skipped: a tollgate user exists already" >&2
  exit 0
fi
debs=(target/debian/tollgate_*.deb target/debian/libnginx-mod-http-tollgate_*.deb)
[ -f "${debs[0]}" ] && [ -f "${debs[1]}" ] || fail "no packages in target/debian (run scripts/package.sh)"
purge() { "${as[@]}" dpkg --purge libnginx-mod-http-tollgate tollgate >/dev/null 2>&1 || true; }
trap purge EXIT
"${as[@]}" dpkg -i "${debs[@]}" >/dev/null

/usr/bin/tollgate check /etc/tollgate/rules.toml
"${as[@]}" systemd-analyze verify /lib/systemd/system/tollgate.service
getent passwd tollgate >/dev/null || fail "no tollgate user"
key=$("${as[@]}" stat -c '%a %U' /var/lib/tollgate/secret.key)
[ "$key" = "600 tollgate" ] || fail "secret.key is $key, not 600 tollgate"
[ -L /etc/nginx/modules-enabled/50-mod-http-tollgate.conf ] || fail "module not enabled"
# Debian's nginx reads modules-enabled/*.conf first: a config test loads the module.
"${as[@]}" nginx -t -q || fail "Debian's nginx does not load the packaged module"
"${as[@]}" nginx -v

trap - EXIT
purge
if getent passwd tollgate >/dev/null; then fail "purge left the tollgate user"; fi
for left in /var/lib/tollgate /etc/tollgate /usr/bin/tollgate \
  /etc/nginx/modules-enabled/50-mod-http-tollgate.conf; do
  [ ! -e "$left" ] || fail "purge left $left"
done
echo "packages installed, checked and purged: ${debs[*]}"
