"""Background work rows (large imports, batch letters) run by the scheduler process."""
