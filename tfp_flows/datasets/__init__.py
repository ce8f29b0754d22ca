"""Data: downloads (`download`), the UCI GAS file (`gas`), Speech Commands (`speech`), the
2-D VI targets (`energies`) and small generated sets (`toy`)."""
