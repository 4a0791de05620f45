"""Adaptive traffic: SLO-aware regional weights for Global Accelerator dials and Route53.

``controller`` decides (pure), ``sources`` read metrics, ``actuators`` write config and call
the engine or AWS, ``pin`` handles the manual override, ``simulator`` drives the controller
over simulated time, and ``cli`` is ``summit traffic``.
"""
