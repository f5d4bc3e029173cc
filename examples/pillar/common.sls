owner: team-{{ grains.get('role', 'ops') }}
db:
  max_connections: 200
