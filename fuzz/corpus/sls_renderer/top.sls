# Which SLS each minion gets (Salt's top file: every target type works here).
base:
  '*':
    - common
  'role:web':
    - match: grain
    - web
  'role:db':
    - match: grain
    - db
