web:
  port: 8080
  vhosts:
    - www.example.com
    - api.example.com
