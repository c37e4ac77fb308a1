#!/bin/sh
# Runs as root after the .deb or .rpm is removed. It also runs during an upgrade (deb: $1 is
# "upgrade"; rpm: $1 is 1), when the new version's files are in place and nothing may go.
# As in after-install.sh, only the two placeholders below use braces.
set -e

app_dir='/opt/${sanitizedProductName}'
exe_name='${executable}'

case "$1" in
  remove | purge | 0) ;;
  *) exit 0 ;;
esac

# The PATH link, only if it still points into our install directory.
link=/usr/bin/$exe_name
if [ -L "$link" ] && [ "$(readlink "$link")" = "$app_dir/$exe_name" ]; then
  rm -f "$link"
fi

# The helper service (after-install.sh installed and enabled it).
unit=/usr/lib/systemd/system/fz-tun-helper.service
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now fz-tun-helper.service >/dev/null 2>&1 || true
fi
rm -f "$unit"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
rm -rf /var/lib/fz-tun-helper
# The group fz-tunnel stays: admins put users in it, and a reinstall should find them there.

# Left by versions before the helper: the trusted library path for the capability-bearing binary.
if [ -L "/usr/lib/$exe_name" ] && [ "$(readlink "/usr/lib/$exe_name")" = "$app_dir" ]; then
  rm -f "/usr/lib/$exe_name"
fi
rm -f "/etc/ld.so.conf.d/$exe_name.conf"

# The AppArmor profile that after-install.sh may have added.
profile="/etc/apparmor.d/$exe_name"
if [ -f "$profile" ] && grep -q "$app_dir" "$profile" 2>/dev/null; then
  if command -v apparmor_parser >/dev/null 2>&1; then
    apparmor_parser --remove "$profile" >/dev/null 2>&1 || true
  fi
  rm -f "$profile"
fi

if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q /usr/share/applications || true
fi

exit 0
