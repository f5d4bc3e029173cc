# Disk clean-up example: the state the reactor applies on the minion whose
# disk filled (served as salt://disk-cleanup.sls). Conservative on purpose:
# only caches and old temporary files.
apt_cache:
  cmd.run:
    - name: apt-get clean
    - onlyif: command -v apt-get

old_tmp_files:
  cmd.run:
    - name: find /tmp /var/tmp -xdev -type f -mtime +7 -delete

journal_size:
  cmd.run:
    - name: journalctl --vacuum-size=200M
    - onlyif: command -v journalctl
