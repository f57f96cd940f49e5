/* footprint_base.c: the baseline program of `make size` (what every program costs). */
int main(void) { return 0; }
