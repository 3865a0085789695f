# The classroom application's browser test drives Debian's Chromium over chromedriver.
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
