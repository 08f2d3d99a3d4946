"""One click command module per family; options and output here, the measuring logic in the family module."""
