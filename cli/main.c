/* main.c -- placeholder until the CLI lands. */
#include "ferry.h"
#include <stdio.h>
int main(void) { printf("ferry %s\n", ferry_version()); return 0; }
