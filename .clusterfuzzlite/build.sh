#!/bin/bash -eu
# ClusterFuzzLite entry point: the same build as OSS-Fuzz.
exec "$SRC/wsconform/oss-fuzz/build.sh"
