#!/usr/bin/env bash
# The servers of `make test-distributed`, from Debian's packages: PostgreSQL (initdb, pg_ctl,
# pg_dump) and Redis (redis-server, redis-cli). The test starts a throwaway instance of each on
# loopback; nothing here starts or configures a service. Installs only what is missing.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "make test-distributed needs Debian's ${missing[*]}: run 'sudo apt-get install ${missing[*]}'" >&2
    exit 1
fi
echo "installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# Another apt run on the machine holds the lock for a while: wait for it rather than fail.
apt_get=(apt-get -q -o DPkg::Lock::Timeout=600)
"${apt_get[@]}" update
"${apt_get[@]}" install -y --no-install-recommends "${missing[@]}"
