"""Message Center: templates by event, the receiving-management model, and its providers."""
