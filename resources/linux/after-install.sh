#!/bin/sh
# Runs as root after the .deb or .rpm is installed (or upgraded).
# electron-builder fills in the two placeholders in single quotes below when it builds the
# package; shell variables in this file are written as $name (never in braces) so that its
# template pass leaves them alone.
set -e

app_dir='/opt/${sanitizedProductName}'
exe_name='${executable}'
bin="$app_dir/$exe_name"

warn() { echo "$exe_name after-install: $*" >&2; }

# 1. A command on PATH, unless something that is not ours already has the name.
link=/usr/bin/$exe_name
if [ ! -e "$link" ] || [ -L "$link" ]; then
  ln -sf "$bin" "$link"
fi

# 2. The app runs without any privilege. The TUN device, its addresses, routes and DNS come from
#    the fz-tun-helper service (root), which serves members of the group fz-tunnel only.
#    Earlier versions granted cap_net_admin to the app binary and put the install directory on
#    the system library path (ld.so.conf.d); remove both when upgrading from one of them.
if [ -f "/etc/ld.so.conf.d/$exe_name.conf" ] || [ -L "/usr/lib/$exe_name" ]; then
  rm -f "/etc/ld.so.conf.d/$exe_name.conf"
  if [ -L "/usr/lib/$exe_name" ] && [ "$(readlink "/usr/lib/$exe_name")" = "$app_dir" ]; then
    rm -f "/usr/lib/$exe_name"
  fi
  if command -v ldconfig >/dev/null 2>&1; then ldconfig || warn "ldconfig failed"; fi
fi
# (The upgraded binary is a new file: the old file capability went with the old file.)

group=fz-tunnel
if ! getent group "$group" >/dev/null 2>&1; then
  groupadd --system "$group" || warn "could not create the group $group"
fi

unit_src="$app_dir/resources/tun-helper/fz-tun-helper.service"
unit_dst=/usr/lib/systemd/system/fz-tun-helper.service
if [ -f "$unit_src" ] && [ -d /usr/lib/systemd/system ]; then
  # The install directory may contain a space; the unit quotes the path.
  sed "s|@APP_DIR@|$app_dir|g" "$unit_src" >"$unit_dst"
  chmod 0644 "$unit_dst"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable fz-tun-helper.service >/dev/null 2>&1 || warn "could not enable fz-tun-helper.service"
    systemctl restart fz-tun-helper.service || warn "could not start fz-tun-helper.service"
  fi
fi
echo "$exe_name: desktop users need to be in the group $group to connect:"
echo "  sudo usermod -aG $group <user>    (then sign out and in again)"

# 3. Chromium's sandbox. It uses unprivileged user namespaces when the kernel allows them;
#    otherwise the chrome-sandbox helper must be setuid root.
sandbox="$app_dir/chrome-sandbox"
userns_ok=1
if [ -r /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = 0 ]; then
  userns_ok=0
fi
if [ -r /proc/sys/user/max_user_namespaces ] && [ "$(cat /proc/sys/user/max_user_namespaces)" = 0 ]; then
  userns_ok=0
fi
# Ubuntu 24.04+ only allows them to programs that an AppArmor profile lets through.
if [ -r /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] &&
  [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" = 1 ]; then
  profile_src="$app_dir/resources/apparmor-profile"
  profile_dst="/etc/apparmor.d/$exe_name"
  if [ -f "$profile_src" ] && [ -d /etc/apparmor.d ] && command -v apparmor_parser >/dev/null 2>&1; then
    cp -f "$profile_src" "$profile_dst"
    apparmor_parser --replace --write-cache "$profile_dst" >/dev/null 2>&1 || userns_ok=0
  else
    userns_ok=0
  fi
fi
if [ -f "$sandbox" ]; then
  chown root:root "$sandbox"
  if [ "$userns_ok" = 1 ]; then chmod 0755 "$sandbox"; else chmod 4755 "$sandbox"; fi
fi

# 4. Refresh the desktop caches so the sign-in deep link (x-scheme-handler) finds the app.
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q /usr/share/applications || true
fi
if command -v update-mime-database >/dev/null 2>&1; then
  update-mime-database /usr/share/mime >/dev/null 2>&1 || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor >/dev/null 2>&1 || true
fi

exit 0
