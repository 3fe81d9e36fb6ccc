"""How a low-resolution scan is made: forward models, their estimation from images, and simulation."""
