#include <string.h>

#include "corio/error.h"

const char *corio_err_name(int err) {
  switch (err) {
#define CORIO__ERROR_NAME(name, value, msg)                                    \
  case value:                                                                  \
    return #name;
    CORIO_ERROR_MAP(CORIO__ERROR_NAME)
#undef CORIO__ERROR_NAME
  }
  return NULL;
}

const char *corio_strerror(int err) {
  switch (err) {
#define CORIO__ERROR_MSG(name, value, msg)                                     \
  case value:                                                                  \
    return msg;
    CORIO_ERROR_MAP(CORIO__ERROR_MSG)
#undef CORIO__ERROR_MSG
  }
  if (err == 0)
    return "success";
  if (err < 0 && err > -4000)
    return strerror(-err);
  return "unknown error";
}
