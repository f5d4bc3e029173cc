{%- from "map.jinja" import root %}
{{ root }}/etc:
  file.directory:
    - makedirs: True

motd:
  file.managed:
    - name: {{ root }}/etc/motd
    - contents: |
        {{ grains['id'] }} ({{ grains['os'] }} {{ grains.get('osrelease', '') }})
        owner: {{ pillar.get('owner', 'nobody') }}
    - require:
      - file: {{ root }}/etc
