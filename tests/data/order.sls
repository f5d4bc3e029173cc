{% set log = '@LOG@' %}
last:
  cmd.run:
    - name: echo last >> {{ log }}
    - order: last
b:
  cmd.run:
    - name: echo b >> {{ log }}
    - require:
      - cmd: a
a:
  cmd.run:
    - name: echo a >> {{ log }}
first:
  cmd.run:
    - name: echo first >> {{ log }}
    - order: first
watched:
  file.managed:
    - name: {{ log | replace('order.log', 'watched.txt') }}
    - contents: watched
on_change:
  cmd.run:
    - name: echo changed >> {{ log }}
    - onchanges:
      - file: watched
quiet:
  test.succeed_without_changes: []
skipped:
  cmd.run:
    - name: echo skipped >> {{ log }}
    - onchanges:
      - test: quiet
fails:
  cmd.run:
    - name: exit 3
after_fail:
  cmd.run:
    - name: echo after_fail >> {{ log }}
    - require:
      - cmd: fails
rescue:
  cmd.run:
    - name: echo rescue >> {{ log }}
    - onfail:
      - cmd: fails
prepared:
  cmd.run:
    - name: echo prepared >> {{ log }}
    - require_in:
      - cmd: a
