"""Charge point simulator (OCPP 1.6-J) for installers, integrators and load tests."""
