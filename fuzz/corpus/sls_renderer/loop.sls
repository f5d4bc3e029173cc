{% for i in range(3) %}
f{{ i }}:
  test.nop: []
{% endfor %}
