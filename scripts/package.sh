#!/usr/bin/env bash
# Builds the Debian packages with dpkg-deb, into target/debian/:
#   tollgate_VERSION_ARCH.deb   /usr/bin/tollgate; /etc/tollgate/rules.toml and crawlers.toml
#                               (conffiles); the systemd unit; the other rule sets and the
#                               nginx `load_module` snippet under /usr/share/tollgate/
#   libnginx-mod-http-tollgate_VERSION_ARCH.deb
#                               the nginx module built against this machine's Debian nginx
#                               (scripts/test-ngx-distro.sh), the way Debian ships its modules:
#                               /usr/lib/nginx/modules/, a snippet in modules-available/ that
#                               postinst links into /etc/nginx/modules-enabled/
#
#   bash scripts/package.sh            # release build
#   bash scripts/package.sh --debug    # the debug build (what the tests install)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
[ "${1:-}" = --debug ] && profile=debug
cargo_profile=()
[ "$profile" = release ] && cargo_profile=(--release)

version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
arch=$(dpkg --print-architecture)
out=$PWD/target/debian
rm -rf "$out" && mkdir -p "$out"

cargo build --locked "${cargo_profile[@]}" -p tollgate-proxy
NGINX_PROFILE="${cargo_profile[*]:-}" bash scripts/test-ngx-distro.sh --build
nginx_abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)

# control FILE: the fields every package shares, then the given ones.
control() {
  local dir=$1; shift
  mkdir -p "$dir/DEBIAN"
  {
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: tollgate developers <tollgate@localhost>"
    echo "Section: httpd"
    echo "Priority: optional"
    printf '%s\n' "$@"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
  } >"$dir/DEBIAN/control"
}

# The proxy.
p=$out/tollgate
install -D -m 0755 "target/$profile/tollgate" "$p/usr/bin/tollgate"
install -d -m 0755 "$p/etc/tollgate"
sed 's|^state_dir = .*|state_dir = "/var/lib/tollgate"|' rules/default.toml >"$p/etc/tollgate/rules.toml"
install -m 0644 rules/crawlers.toml "$p/etc/tollgate/crawlers.toml"
install -D -m 0644 packaging/tollgate.service "$p/lib/systemd/system/tollgate.service"
install -d -m 0755 "$p/usr/share/tollgate/rules" "$p/usr/share/tollgate/nginx"
install -m 0644 rules/*.toml "$p/usr/share/tollgate/rules/"
echo "load_module /usr/lib/nginx/modules/ngx_http_tollgate_module.so;" \
  >"$p/usr/share/tollgate/nginx/load-module.conf"
install -D -m 0644 README.md "$p/usr/share/doc/tollgate/README.md"
install -D -m 0644 BENCHMARKS.md "$p/usr/share/doc/tollgate/BENCHMARKS.md"
install -d -m 0755 "$p/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/tollgate.$s" "$p/DEBIAN/$s"; done
control "$p" "Package: tollgate" \
  "Depends: libc6, passwd" \
  "Suggests: libnginx-mod-http-tollgate" \
  "Description: edge filter that makes bots pay a toll before they reach a web app" \
  " A reverse proxy (Pingora) that rate-limits, bans, scores and challenges clients with" \
  " proof of work, while browsers, search engines and feed readers pass."
printf '/etc/tollgate/rules.toml\n/etc/tollgate/crawlers.toml\n' >"$p/DEBIAN/conffiles"
dpkg-deb --root-owner-group --build "$p" "$out/tollgate_${version}_${arch}.deb" >/dev/null

# The nginx module, for the nginx this machine's nginx-dev describes.
m=$out/libnginx-mod-http-tollgate
install -D -m 0644 "target/distro/$profile/libtollgate_ngx.so" \
  "$m/usr/lib/nginx/modules/ngx_http_tollgate_module.so"
install -d -m 0755 "$m/usr/share/nginx/modules-available"
echo "load_module modules/ngx_http_tollgate_module.so;" \
  >"$m/usr/share/nginx/modules-available/mod-http-tollgate.conf"
install -d -m 0755 "$m/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/mod.$s" "$m/DEBIAN/$s"; done
control "$m" "Package: libnginx-mod-http-tollgate" \
  "Depends: $nginx_abi, libc6" \
  "Recommends: nginx" \
  "Description: tollgate for nginx: the same toll as the proxy, as a dynamic module" \
  " Decides in nginx's access phase with tollgate's core; workers share one zone."
dpkg-deb --root-owner-group --build "$m" "$out/libnginx-mod-http-tollgate_${version}_${arch}.deb" >/dev/null
ls -l "$out"/*.deb
