#include <criterion/criterion.h>
#include "ir_testutil.h"
