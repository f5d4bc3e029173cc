{%- from "map.jinja" import root %}
include:
  - common

site_config:
  file.managed:
    - name: {{ root }}/etc/site.conf
    - source: salt://web/files/site.conf.j2
    - template: jinja
    - context:
        root: {{ root }}
    - require:
      - file: {{ root }}/etc

# Runs only when the config changed, like a reload would.
check_config:
  cmd.run:
    - name: grep -q '^listen' {{ root }}/etc/site.conf && echo config ok
    - onchanges:
      - file: site_config
