# The import bomb test (box/tests/import_bomb.rs) reads the peak memory of `preau pack
# build` with GNU time.
$SUDO apt-get install -y -qq time >/dev/null
