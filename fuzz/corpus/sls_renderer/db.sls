{%- from "map.jinja" import root %}
include:
  - common

db_config:
  file.serialize:
    - name: {{ root }}/etc/db.json
    - dataset:
        max_connections: {{ pillar.get('db', {}).get('max_connections', 100) }}
        owner: {{ pillar.get('owner', 'nobody') }}
    - serializer: json
    - require:
      - file: {{ root }}/etc
