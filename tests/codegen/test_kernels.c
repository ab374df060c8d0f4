#include <criterion/criterion.h>
Test(k, placeholder) { cr_assert(1); }
