"""One module per delivery channel; each turns a typed request into ``Delivery`` entries."""
