/* Every code corio returns has a name and a description. */
#include <errno.h>
#include <string.h>

#include "corio/error.h"
#include "support.h"

static const int own_codes[] = {
#define CODE(name, value, msg) name,
    CORIO_ERROR_MAP(CODE)
#undef CODE
};

static void test_own_codes_are_named_and_described(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof own_codes / sizeof own_codes[0]; i++) {
    int code = own_codes[i];

    assert_true(code <= -4000 && code > -4100);
    assert_non_null(corio_err_name(code));
    assert_memory_equal(corio_err_name(code), "CORIO_E", 7);
    assert_string_not_equal(corio_strerror(code), "unknown error");
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(code, own_codes[j]);
      assert_string_not_equal(corio_strerror(code),
                              corio_strerror(own_codes[j]));
    }
  }
  assert_string_equal(corio_err_name(CORIO_EDEAD), "CORIO_EDEAD");
}

static void test_errno_values_use_the_system_text(void **state) {
  (void)state;
  assert_string_equal(corio_strerror(-ENOMEM), strerror(ENOMEM));
  assert_string_equal(corio_strerror(-EINVAL), strerror(EINVAL));
  assert_null(corio_err_name(-EINVAL));
  assert_string_equal(corio_strerror(0), "success");
  assert_string_equal(corio_strerror(-4099), "unknown error");
  assert_string_equal(corio_strerror(12345), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_own_codes_are_named_and_described),
      cmocka_unit_test(test_errno_values_use_the_system_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
