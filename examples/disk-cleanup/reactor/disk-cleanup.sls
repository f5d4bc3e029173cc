{#- Disk clean-up example: the reactor SLS for
    brine/beacon/<id>/diskusage/<mount>. `data` is the beacon's event:
    {"diskusage": 93.5, "mount": "/", "id": "web1", "_stamp": ...}.
    Served as salt://reactor/disk-cleanup.sls. -#}
clean_up_{{ data['id'] }}:
  local.state.apply:
    - tgt: {{ data['id'] }}
    - args:
      - mods: disk-cleanup

page_owner_{{ data['id'] }}:
  alert.send:
    - channel: ops
    - title: "Disk {{ data['mount'] }} on {{ data['id'] }} at {{ data['diskusage'] | round(1) }}%"
    - severity: {{ 'critical' if data['diskusage'] >= 97 else 'warning' }}
    - impact: "Services on {{ data['id'] }} fail to write once {{ data['mount'] }} is full"
    - observed: "{{ data['mount'] }} {{ data['diskusage'] | round(1) }}% used"
    - expected: "{{ data['mount'] }} below 90% used"
    - links:
      - https://runbooks.example.com/disk-full
    - context:
        action: disk-cleanup state applied by the reactor
