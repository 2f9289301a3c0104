#include "edgedetr.h"

int edgedetr_api_version(void) { return EDGEDETR_API_VERSION; }
