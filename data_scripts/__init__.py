"""Genre Lab data scripts: ``python -m data_scripts download|synthetic|prepare|benchmark``."""
