"""Microcontroller sensor link: framing, messages, protocol, serial transport, clock sync."""
