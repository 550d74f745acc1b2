# Sourced by scripts/run.sh, scripts/test.sh and .ci/run: the Debian packages tollgate needs, and
# one way to install the missing ones (apt-get as root, through sudo otherwise).

# Building and running the proxy: Pingora's zlib-ng is built with cmake.
RUN_PACKAGES=(cmake build-essential pkg-config)
# The tests: real curl, wget and python-requests clients, Chromium driven through Playwright
# (node), Firefox ESR driven over Marionette (python3), and the vendored nginx build (bindgen needs libclang; nginx links PCRE2, zlib, OpenSSL).
# The crawler tests run their own DNS server (dnsmasq); the fleet tests their own redis-server,
# asked with redis-cli, TLS certificates made with openssl.
TEST_PACKAGES=("${RUN_PACKAGES[@]}" curl wget python3-requests chromium firefox-esr openssl
  libclang-dev libpcre2-dev zlib1g-dev libssl-dev dnsmasq-base redis-server redis-tools)
# The module built against the distribution's nginx and tested in it (scripts/test-ngx-distro.sh):
# Debian's nginx and the source and configure flags it was built with.
DISTRO_NGX_PACKAGES=(nginx nginx-dev libclang-dev)
TEST_PACKAGES+=("${DISTRO_NGX_PACKAGES[@]}")
# The package test (scripts/test-package.sh) verifies the unit with systemd-analyze; the
# forward-auth tests run Caddy in front of tollgate.
TEST_PACKAGES+=(systemd caddy)
# A machine's own Node.js (with its npm) is kept; Debian's packages conflict with it.
command -v node >/dev/null || TEST_PACKAGES+=(nodejs npm)

# Installs those of the named packages that are not installed yet.
ensure_packages() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  local as=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "missing Debian packages: ${need[*]} (run as root, or install sudo)" >&2
      return 1
    fi
    as=(sudo)
  fi
  echo "installing: ${need[*]}" >&2
  "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}
