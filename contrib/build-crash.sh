#!/usr/bin/env bash
# Build crash 9.0.2 (Debian sid's source package; it bundles gdb 16.3, so
# nothing is downloaded at build time) for benchmarks/bench.py --crash.
#   sudo contrib/build-crash.sh [WORKDIR]     -> WORKDIR/src/crash
# Uses a private apt configuration for the deb-src line: the system's
# sources are not touched. About 10 minutes on 2 cores.
set -euo pipefail
work=${1:-/var/tmp/slf/crash}
mkdir -p "$work/apt/lists/partial"
cd "$work"
echo "deb-src http://deb.debian.org/debian sid main" > apt/sources.list
opts=(-oDir::Etc::SourceList="$work/apt/sources.list" -oDir::Etc::SourceParts=/dev/null
      -oDir::State::Lists="$work/apt/lists")
DEBIAN_FRONTEND=noninteractive apt-get install -y -q build-essential bison flex texinfo \
    libncurses-dev zlib1g-dev liblzo2-dev libsnappy-dev libzstd-dev libgmp-dev libmpfr-dev \
    dpkg-dev >/dev/null
if [ ! -d src ]; then
    apt-get -q "${opts[@]}" update >/dev/null
    apt-get -q "${opts[@]}" source --download-only crash
    dpkg-source -x crash_*.dsc src
fi
cd src
make -j"$(nproc)" target=X86_64 >build.log 2>&1
ls -l "$PWD/crash"
