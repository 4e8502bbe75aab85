"""A fused Adam/AdamW CPU kernel in C++, the way a kernel author writes one, gated by adamspec."""
