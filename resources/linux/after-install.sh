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

# 2. The engine creates its TUN device and sets addresses and routes itself, which needs
#    CAP_NET_ADMIN. Grant it to the app binary instead of running the app as root.
if command -v setcap >/dev/null 2>&1; then
  setcap cap_net_admin+ep "$bin" || warn "setcap failed; the tunnel will not start without CAP_NET_ADMIN"
else
  warn "setcap not found (package libcap2-bin / libcap); the tunnel needs CAP_NET_ADMIN"
fi

# 2b. File capabilities put the process in secure-execution mode, where the dynamic linker
#     ignores $ORIGIN run paths; Electron finds libffmpeg.so and friends through one. Make the
#     install directory a trusted library path instead (through a link without spaces, which
#     ld.so.conf cannot hold).
ln -sfn "$app_dir" "/usr/lib/$exe_name"
echo "/usr/lib/$exe_name" >"/etc/ld.so.conf.d/$exe_name.conf"
if command -v ldconfig >/dev/null 2>&1; then ldconfig || warn "ldconfig failed"; fi

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
