# The box's HTTP core (issue 4): its tests need no system package (they run a real
# `preau serve` on 127.0.0.1 with a small Rust HTTP client). The serving benchmark
# (box/bench/serve.sh) needs nginx, wrk and curl, but benchmarks do not run in CI.
true
