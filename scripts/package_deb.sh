#!/usr/bin/env bash
# Builds the Debian package (cpack -G DEB) in build-deb/ with prefix /usr, then checks it: it
# installs with `apt-get install ./metrix_*.deb` (pulling its dependencies), `metrix --version`
# runs, and /usr/bin/python3 imports metrix and evaluates embeddings from the installed files
# only (outside the source tree, no PYTHONPATH / METRIX_LIBRARY). The package is purged again
# unless MX_DEB_KEEP=1. Needs root (or sudo) for the install check; MX_DEB_NO_INSTALL=1 only
# builds and inspects the package.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${MX_DEB_BUILD:-build-deb}
cmake -S . -B "$dir" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release -DMX_BUILD_TESTS=OFF \
    >/dev/null
cmake --build "$dir" -j "$(nproc)"
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls -t "$dir"/metrix_*.deb | head -1)
echo "== $deb"
dpkg-deb --field "$deb" Package Version Depends Recommends
contents=$(dpkg-deb --contents "$deb")
for want in ./usr/bin/metrix 'libmetrix.so.0' 'include/metrix/metrix.h' 'pkgconfig/metrix.pc' \
    'dist-packages/metrix/__init__.py' 'dist-packages/metrix/_install.py'; do
    grep -q -- "$want" <<<"$contents" || { echo "package_deb: $want missing from $deb"; exit 1; }
done
[ "${MX_DEB_NO_INSTALL:-0}" = 1 ] && exit 0

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
if dpkg-query -W -f '${Status}' metrix 2>/dev/null | grep -q "ok installed"; then
    echo "package_deb: a metrix package is already installed; not touching it"
    exit 1
fi
$sudo apt-get install -y "./$deb" >/dev/null
cleanup() { [ "${MX_DEB_KEEP:-0}" = 1 ] || $sudo apt-get purge -y metrix >/dev/null; }
trap cleanup EXIT
tmp=$(mktemp -d)
(
    cd "$tmp"
    env -u PYTHONPATH -u METRIX_LIBRARY /usr/bin/metrix --version
    env -u PYTHONPATH -u METRIX_LIBRARY /usr/bin/python3 -c "
import numpy as np, metrix
assert metrix._lib.path.startswith('/usr/lib'), metrix._lib.path
r = metrix.evaluate(np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2, 2]] + 0.1, [0, 0, 1, 1, 2, 2])
assert r['recall'][1] == 1.0, r
print('python: metrix %s from %s (%s), Recall@1 %.2f' % (metrix.__version__, metrix.__file__,
      metrix._lib.path, r['recall'][1]))"
    pkg-config --modversion metrix
)
rm -rf "$tmp"
echo "package_deb: OK"
