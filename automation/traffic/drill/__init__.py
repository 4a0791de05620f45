"""``summit traffic drill``: the induced-breach game day on real parts, on loopback.

- :mod:`.supervisor` - child processes in their own process groups, stopped on any exit;
- :mod:`.lab` - the two-region lab: two gateway apps, HAProxy, Prometheus with the project's
  rules, Alertmanager and its webhook receiver, Locust, and ``summit traffic run``;
- :mod:`.scenarios` - induced-latency, error-burst, recovery, metrics-outage, pin;
- :mod:`.evidence` - served shares from HAProxy's counters, times, flaps, checks (pure);
- :mod:`.plot` - the PNG timeline.
"""
