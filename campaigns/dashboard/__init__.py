"""The owner's view of outcomes: what was asked, what was won, what is waiting."""
