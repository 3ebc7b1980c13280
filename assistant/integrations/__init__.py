"""Links to the outside: MQTT, Home Assistant."""
