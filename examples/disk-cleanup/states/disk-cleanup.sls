# Disk clean-up example: the state the reactor applies on the minion whose
# disk filled (served as salt://disk-cleanup.sls). Conservative on purpose:
# old temporary files, and the package cache and journal when the grain
# `cleanup_system` allows (default: yes). The demo (demo.sh) points
# `cleanup_dirs` at a scratch directory and turns `cleanup_system` off, so
# it touches nothing of the machine it runs on.
{%- set dirs = salt['grains.get']('cleanup_dirs', ['/tmp', '/var/tmp']) %}
{%- set system = salt['grains.get']('cleanup_system', True) %}
old_tmp_files:
  cmd.run:
    - name: find {{ dirs | join(' ') }} -xdev -type f -mtime +7 -delete

{%- if system %}
apt_cache:
  cmd.run:
    - name: apt-get clean
    - onlyif: command -v apt-get

journal_size:
  cmd.run:
    - name: journalctl --vacuum-size=200M
    - onlyif: command -v journalctl
{%- endif %}
