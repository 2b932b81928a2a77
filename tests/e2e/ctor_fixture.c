/* The program linking ctor_lib (see there): prints the library's ground
 * truth and leaves; its own code allocates nothing. */
void ctor_lib_expect(void);
void ctor_lib_cxx_expect(void);

int main(void) {
  ctor_lib_expect();
  ctor_lib_cxx_expect();
  return 0;
}
